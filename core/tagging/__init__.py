"""Tagging: scanning folders into the store, running the recognizer on what needs it, and applying the
user's corrections. It reads and writes the database only through ``core.store`` functions.

* ``jobs`` — ``JobControl`` (pause / resume / cancel), ``Cancelled``, ``TaggingJob`` (scan + tag on a
  background thread);
* ``lock`` — ``TaggingLock``: one tagging process per library (a file lock beside the database);
* ``scan`` — ``scan_folders`` (folders → new, changed, moved and deleted photo rows), ``apply_change_batch``
  (the folder watcher's batches), ``ScanReport``;
* ``tag`` — ``tag_photos`` (decode pool, CNN batches, one writer thread, crash-safe pending), ``TagReport``,
  readable decode-failure reasons;
* ``progress`` — ``ProgressTracker``: the progress stream (done/total, photos per second, ETA);
* ``places`` — ``place_gps_photos``: GPS photos get the catalog landmark whose uncertainty circle holds them (label
  source ``gps``) and their city and country, without the model;
* ``labels`` — ``resolve_label``: the rule that combines the model's top-k with the corrections;
  ``resolve_gps_label`` the same for GPS photos;
* ``sidecars`` — XMP sidecars: ``export_sidecars`` (write / merge / clean, per-file report) and
  ``labels_from_sidecars`` (other apps' keywords that name a landmark);
* ``relabel`` — corrections applied to the library: ``correct``, ``undo``, ``suggestions``, and re-labelling
  / re-scoring the photos they affect.
"""
