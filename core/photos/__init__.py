"""Photos on disk: decoding (``image_io``), EXIF (``exif``), walking folders (``scanner``), file
identity and records (``records``), watching folders (``watcher``) and whether a folder is there
(``folder_health``), file names as the system gives them (``pathnames``), exports that never destroy a file
(``safe_write``), great-circle distances and offline reverse geocoding (``geocode``) and XMP sidecars (``xmp``).
Never imports torch."""
