"""Model cards: the schema (``schema``), the part a plugin writes (``static``), the facts and measurements
quoted (``facts``, ``figures``, ``assessed``), the assembled card (``make``), its formats (``render``) and
writing it beside a run or into a bundle (``writer``), CycloneDX as one of them.

The package sits above the bundle and the assessments and below the hub and the catalog, which read
published cards through ``zoo.cards.schema`` alone. Its modules import the layers below and each other
without loops (the import-linter contracts in pyproject.toml).
"""
