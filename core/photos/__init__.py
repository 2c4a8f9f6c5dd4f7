"""Photos on disk: decoding (``image_io``), EXIF (``exif``), walking folders (``scanner``), file
identity and records (``records``) and watching folders (``watcher``). Never imports torch."""
