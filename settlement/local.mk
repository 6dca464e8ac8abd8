# settlement: filled in as its pieces land.
