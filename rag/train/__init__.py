"""Training: each module is a `rag train-*` command that reproduces a file of the model bundle
(the selector, the reader, the verifier's thresholds) with its model card, written into a
candidate bundle (`build/models/`) that `rag models promote` ships."""
