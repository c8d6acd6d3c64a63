"""Model cards: the schema (``schema``), the part a plugin writes (``static``), the facts and measurements
quoted (``facts``, ``figures``, ``assessed``), the assembled card (``make``, with the comparison with published results, ``published``), its formats (``render``, with
the "Use it" calls written from the bundle's manifest, ``usage``, and the way each metric reads,
``metric_names``) and writing it beside a run or into a bundle (``writer``), CycloneDX as one of them.

The package sits above the bundle and the assessments and below the hub and the catalog, which read
published cards through ``zoo.cards.schema`` alone. Its modules import the layers below and each other
without loops (the import-linter contracts in pyproject.toml).
"""
