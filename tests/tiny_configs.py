"""Config shrinkers shared by the tests and the subprocess checks (no pytest, no jax flags)."""


def tiny_selection(config, strategy: str):
  """Sets `strategy` with selection-side sizes that run in seconds: scoring batches of 16,
  3 MC-dropout passes (dropout 0.3 only for mc_dropout), a width-4 VAE with a 4-d latent for
  one epoch, an 8-unit discriminator, and an 8-unit GCN trained for 5 steps."""
  config.strategy.name = strategy
  config.strategy.batch_size = 16
  config.strategy.mc_passes = 3
  config.model.dropout_rate = 0.3 if strategy == "mc_dropout" else 0.0
  config.vae.width = 4
  config.vae.latent_dim = 4
  config.vae.epochs = 1
  config.vae.batch_size = 16
  config.discriminator.hidden = (8,)
  config.strategy.gcn_hidden = 8
  config.strategy.gcn_epochs = 5
  return config
