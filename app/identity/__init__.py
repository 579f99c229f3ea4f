"""Who is who: track descriptors (``descriptors``), hard constraints (``constraints``), calibration and
clustering (``cluster``), what runs and decisions read from the store (``tables``), full linking runs
(``linking``), incremental linking (``incremental``), operator decisions (``decisions``) and search
(``search``)."""
