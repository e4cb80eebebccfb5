"""tunesmith studio: compose, listen and steer in the browser (``tunesmith studio``)."""
