"""What leaves the pipeline: model packages, the CTranslate2 and transformers exports, and the
``wd-translate`` command."""
