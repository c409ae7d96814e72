"""Image files and pixels: reading and writing any image file, pixel conversions, batches of files in and out, input/target pairs."""
