# doc: filled in as its pieces land.
