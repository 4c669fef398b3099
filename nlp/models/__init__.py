"""The shipped model files (see the model card in README.md); a package so that they ship in the wheel."""
