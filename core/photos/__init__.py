"""Photos on disk: decoding (``image_io``), EXIF (``exif``), walking folders (``scanner``), file
identity and records (``records``), watching folders (``watcher``) and whether a folder is there
(``folder_health``), file names as the system gives them (``pathnames``) and exports that never destroy a file
(``safe_write``). Never imports torch."""
