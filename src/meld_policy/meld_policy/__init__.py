"""MELD latent state model, belief filter and actor; the policy node."""
