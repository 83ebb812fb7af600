"""Generators of the committed assets in resources/: icons (``make_icons``) and sample images
(``make_samples``). Run them from a source checkout with ``python -m stagelens_dev.assets.<name>``."""
