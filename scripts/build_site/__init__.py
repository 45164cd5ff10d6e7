"""Assembles dist/site/ (the static, fully offline taskloom page) from build/browser.toml."""
