"""The pages a visitor sees: My Images and My Files."""
