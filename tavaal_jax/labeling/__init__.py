"""Query rounds on the user's own images (python -m tavaal_jax.query).

labels_file.py   the user's labels (CSV `file,label` or a Label Studio export), checked
label_studio.py  Label Studio: reading an export, writing import tasks with predictions
rounds.py        rounds.jsonl: what each round used and picked; which round this one is
round_outputs.py a round's files (to_label.csv, tasks, picture), written as one folder
figures.py       the picture grid of a round's picks; the learning curve over the rounds
query_round.py   one round: check the input, train, pick, predict, write

The image pool itself is a data source (tavaal_jax/data/image_pool.py).
"""
