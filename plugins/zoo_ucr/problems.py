"""The archive's problems that sktime ships, as zoo declares them: name, shape, classes and the notes every card
of their models shares.

What a problem is, who made it and how comes from the comment lines (``#``) at the top of its ``.ts`` files
and from the archive's papers; a test checks the shapes and class names here against the files. Class names
are the archive's labels in natural order (``zoo.sources``); where a header names the classes (ArrowHead,
OSULeaf, ACSF1, PLAID) without saying which label is which, the labels are kept and the notes quote the names.

Imports: the standard library only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

UCR = ("Dau, H. A., Bagnall, A., Kamgar, K., Yeh, C.-C. M., Zhu, Y., Gharghabi, S., Ratanamahatana, C. A. and "
       "Keogh, E. (2019). The UCR Time Series Archive. IEEE/CAA Journal of Automatica Sinica 6(6), 1293-1305 (the "
       "UCR 2018 archive of 128 univariate problems, https://www.cs.ucr.edu/~eamonn/time_series_data_2018/).")
UEA = ("Bagnall, A., Dau, H. A., Lines, J., Flynn, M., Large, J., Bostrom, A., Southam, P. and Keogh, E. (2018). The "
       "UEA multivariate time series classification archive, 2018. arXiv:1811.00075 (30 multivariate problems, "
       "https://www.timeseriesclassification.com).")
LICENSE = ("not stated: the UCR and UEA archives publish the data for research and ask that the archive be cited "
           "(see the citation note), without a licence; sktime's BSD-3-Clause licence covers its code, not the data "
           "files it carries")
SPLIT = ("The archive's own train/test split is kept, so results compare with published ones; zoo draws its "
         "validation split from the archive's training part (10%, stratified by label, seed 0), so models train on "
         "the other 90%. Read from sktime 1.2.0's .ts files by zoo's own reader.")
ZNORM = "Values as stored: the archive z-normalised each series (mean 0, sample standard deviation 1)."
ABOUT_SCORES = ("a test set this small moves accuracy in steps of {step:.2g} per sample: read the card's "
                "confidence interval, not the last digit")


@dataclass(frozen=True)
class Problem:
    """One problem of the archive as zoo offers it (``name`` in zoo, ``problem`` in the archive)."""

    name: str
    problem: str
    archive: str  # "UCR" (univariate, 2018) or "UEA" (multivariate, 2018)
    sample_shape: tuple[int, int]  # (time steps: the longest, channels)
    class_names: tuple[str, ...]
    sizes: tuple[int, int]  # archive train / test
    summary: str
    notes: Mapping[str, str] = field(default_factory=dict)
    variable_length: bool = False

    @property
    def citation(self) -> str:
        return UCR if self.archive == "UCR" else UEA

    def source(self) -> str:
        archive = "UCR 2018 (univariate)" if self.archive == "UCR" else "UEA 2018 (multivariate)"
        return (f"The {self.problem} problem of the {archive} time-series classification archive: "
                f"{self.problem}_TRAIN.ts ({self.sizes[0]} series) and {self.problem}_TEST.ts ({self.sizes[1]}) as "
                f"shipped in the sktime 1.2.0 wheel (sktime/datasets/data/{self.problem}/), nothing downloaded")


PROBLEMS = (
    Problem(
        name="ucr-gunpoint", problem="GunPoint", archive="UCR", sample_shape=(150, 1), class_names=("1", "2"),
        sizes=(50, 150), summary="GunPoint (UCR): the x-coordinate of a hand drawing a gun or pointing, 150 steps",
        notes={
            "collection": ("From the files' header: one female and one male actor make a motion with their hand, "
                           "either Gun-Draw (draw a replica gun from a hip holster, point it at a target for about "
                           "one second, put it back) or Point (point with the index finger for about one second, "
                           "hands back to the sides). The centroid of the actor's right hand was tracked in X and Y; "
                           "the archive keeps the X axis only, 150 values per motion. The header names the classes "
                           "Gun-Draw and Point without saying which of the labels 1 and 2 is which."),
            "preprocessing": f"{ZNORM} {SPLIT}",
            "known_gaps": ("Two actors only, and the archive does not say whether its split separates them: test "
                           "accuracy says little about a new person's movements. One coordinate of one hand, in one "
                           "setting; " + ABOUT_SCORES.format(step=1 / 150) + "."),
            "biases": ("One woman and one man perform every motion; age, build and handedness are not recorded. "
                       "Classes are nearly balanced (24/26 in train, 76/74 in test)."),
            "privacy": ("Hand trajectories of two anonymous actors, no names, images or other personal data; "
                        "nothing needs protecting beyond citing the archive."),
        }),
    Problem(
        name="ucr-italypowerdemand", problem="ItalyPowerDemand", archive="UCR", sample_shape=(24, 1),
        class_names=("1", "2"), sizes=(67, 1029),
        summary="ItalyPowerDemand (UCR): a day of Italy's electrical power demand, 24 steps; winter or summer half",
        notes={
            "collection": ("From the files' header: derived from twelve monthly electrical power demand time series "
                           "from Italy, first used in the paper 'Intelligent Icons: Integrating Lite-Weight Data "
                           "Mining and Visualization into GUI Operating Systems'; each series is one day (24 values). "
                           "The task is to tell days from October to March (inclusive) from days from April to "
                           "September; the header does not say which of the labels 1 and 2 is which."),
            "preprocessing": f"{ZNORM} {SPLIT}",
            "known_gaps": ("One country's national demand; the year and the source of the readings are not given in "
                           "the files. Only 67 training days against 1,029 test days: models see little of the "
                           "variety they are tested on."),
            "biases": ("Days of one country and period; the classes are balanced (34/33 in train, 513/516 in test). "
                       "Holidays and unusual days are not marked."),
            "privacy": "Aggregate national power demand: no personal information.",
        }),
    Problem(
        name="ucr-arrowhead", problem="ArrowHead", archive="UCR", sample_shape=(251, 1), class_names=("0", "1", "2"),
        sizes=(36, 175), summary="ArrowHead (UCR): outlines of arrowheads as angle series, 251 steps, three types",
        notes={
            "collection": ("From the files' header: outlines of images of arrowheads (projectile points), converted "
                           "to a time series by the angle-based method; the classes are based on shape distinctions "
                           "such as the presence and location of a notch. The archive's problem is a length-"
                           "normalised version of the one in Ye and Keogh's shapelets paper (2009). The header names "
                           "the classes Avonlea, Clovis and Mix without saying which of the labels 0, 1 and 2 is "
                           "which."),
            "preprocessing": f"{ZNORM} {SPLIT}",
            "known_gaps": ("36 training outlines (12 per class) for 175 test outlines (69/53/53): a model learns "
                           "from very few shapes; " + ABOUT_SCORES.format(step=1 / 175) + ". Only outlines: no size, "
                           "material or find site."),
            "biases": ("Three typological classes of projectile points named after North American cultures "
                       "(Avonlea, Clovis) and a mixed class; which collections the images come from is not "
                       "stated."),
            "privacy": "Outlines of artefacts: no personal information.",
        }),
    Problem(
        name="ucr-osuleaf", problem="OSULeaf", archive="UCR", sample_shape=(427, 1),
        class_names=("1", "2", "3", "4", "5", "6"), sizes=(200, 242),
        summary="OSULeaf (UCR): leaf outlines as series, 427 steps, six species",
        notes={
            "collection": ("From the files' header: one-dimensional outlines of leaves, obtained by colour image "
                           "segmentation and boundary extraction (anticlockwise) from digitised leaf images of six "
                           "classes: Acer Circinatum, Acer Glabrum, Acer Macrophyllum, Acer Negundo, Quercus Garryana "
                           "and Quercus Kelloggii, for the MSc thesis 'Content-Based Image Retrieval: Plant Species "
                           "Identification' by A. Grandhi. The header does not say which label is which species."),
            "preprocessing": f"{ZNORM} {SPLIT}",
            "known_gaps": ("Six species of maple and oak only; long series (427 steps), known to be hard for plain "
                           "recurrent networks. Leaf size, colour and venation are lost in the outline."),
            "biases": ("Classes are unbalanced (15 to 53 training leaves per class); where and when the leaves were "
                       "collected is not stated."),
            "privacy": "Outlines of leaves: no personal information.",
        }),
    Problem(
        name="ucr-acsf1", problem="ACSF1", archive="UCR", sample_shape=(1460, 1),
        class_names=tuple(str(i) for i in range(10)), sizes=(100, 100),
        summary="ACSF1 (UCR): home appliances' power consumption, 1,460 steps, ten appliance types",
        notes={
            "collection": ("From the files' header: compiled from ACS-F1, the first version of the database of "
                           "appliance consumption signatures (Gisler et al. 2013, data edited by Schäfer and Leser "
                           "2017): the power consumption of typical appliances, with long idle periods and some high "
                           "bursts when the appliance is active. Ten classes: mobile phones (via chargers), coffee "
                           "machines, computer stations (with monitor), fridges and freezers, Hi-Fi systems (CD "
                           "players), lamps (CFL), laptops (via chargers), microwave ovens, printers and televisions "
                           "(LCD or LED); the header does not say which label is which."),
            "preprocessing": f"{ZNORM} {SPLIT}",
            "known_gaps": ("Ten training series per class; very long series (1,460 steps), known to be hard for "
                           "plain recurrent networks. The header says there is nothing to infer from the order of "
                           "the examples."),
            "biases": "Appliance models of one database's collection; the classes are balanced (10 per class).",
            "privacy": ("Power readings of appliances, not of named households; nothing personal is recorded in "
                        "the files."),
        }),
    Problem(
        name="ucr-plaid", problem="PLAID", archive="UCR", sample_shape=(1344, 1),
        class_names=tuple(str(i) for i in range(11)), sizes=(537, 537), variable_length=True,
        summary="PLAID (UCR): appliance start-up measurements, 100-1,344 steps, eleven appliance types",
        notes={
            "collection": ("From the files' header: PLAID1, the Plug Load Appliance Identification Dataset (Gao et "
                           "al. 2014, data edited by Schäfer and Leser 2017): current and voltage measurements "
                           "sampled at 30 kHz from 11 appliance types in more than 56 households in Pittsburgh, "
                           "Pennsylvania, USA, in summer 2013, each type by dozens of makes and models; three to six "
                           "measurements per state transition, cut to a few-second window with the steady state and "
                           "the start-up transient. Classes 0 (air conditioner) to 10 (washing machine): compact "
                           "fluorescent lamp, fan, fridge, hairdryer, heater, incandescent bulb, laptop, microwave, "
                           "vacuum in between."),
            "preprocessing": ("Values as stored (not normalised). Series differ in length (100 to 1,344 steps): zoo "
                              f"pads each with zeros after its end and keeps the lengths. {SPLIT}"),
            "known_gaps": ("One city, one summer; series of very different lengths, long for recurrent networks. "
                           "The 1-NN baseline with Euclidean distance is not defined without padding, so zoo does "
                           "not compute it."),
            "biases": ("Households of one US city that took part; the number of series per appliance type "
                       "differs."),
            "privacy": ("Measurements of appliances in private households, without addresses or names in the "
                        "files; appliance use can reveal habits, so do not join it with other data about the "
                        "households."),
        }),
    Problem(
        name="uea-basicmotions", problem="BasicMotions", archive="UEA", sample_shape=(100, 6),
        class_names=("Badminton", "Running", "Standing", "Walking"), sizes=(40, 40),
        summary="BasicMotions (UEA): smart-watch accelerometer and gyroscope, 6 channels, 100 steps, four activities",
        notes={
            "collection": ("From the files' header: a student project in which four students performed four "
                           "activities wearing a smart watch that records a 3D accelerometer and a 3D gyroscope (six "
                           "channels), each recording five times, sampled every tenth of a second for ten seconds "
                           "(100 steps). The header's text names the activities walking, resting, running and "
                           "badminton; the labels are Standing, Running, Walking and Badminton."),
            "preprocessing": (f"Values as stored (raw sensor readings, not normalised). {SPLIT}"),
            "known_gaps": ("Four students, 80 recordings in all (4 people x 4 activities x 5): the archive does not "
                           "say whether train and test share people, so the test score says little about a new "
                           "wearer, watch or way of playing; " + ABOUT_SCORES.format(step=1 / 40) + ". The channel "
                           "order is not documented in the files."),
            "biases": "Four students of one project; age, sex and fitness are not recorded. Balanced: 10 per class.",
            "privacy": ("Motion recordings of four people without names; movement patterns can identify a person, "
                        "so do not join them with other data about the participants."),
        }),
    Problem(
        name="uea-japanesevowels", problem="JapaneseVowels", archive="UEA", sample_shape=(29, 12),
        class_names=tuple(str(i) for i in range(1, 10)), sizes=(270, 370), variable_length=True,
        summary="JapaneseVowels (UEA): LPC cepstra of an uttered vowel pair, 12 channels, 7-29 steps, nine speakers",
        notes={
            "collection": ("From the files' header (a UCI dataset: Kudo, Toyama and Shimbo 1999, 'Multidimensional "
                           "Curve Classification Using Passing-Through Regions', Pattern Recognition Letters 20): "
                           "nine Japanese male speakers were recorded saying the vowels 'a' and 'e'; a 12-degree "
                           "linear prediction analysis turns each utterance into a series of 12 coefficients, 7 to 29 "
                           "steps long. The task is to tell the speaker (labels 1 to 9). Training: 30 utterances per "
                           "speaker; test: 24 to 88 per speaker, recorded at other times."),
            "preprocessing": ("Values as stored (not normalised). Series differ in length (7 to 29 steps): zoo pads "
                              f"each with zeros after its end and keeps the lengths. {SPLIT}"),
            "known_gaps": ("Nine male speakers of one language and one vowel pair: nothing about women, children, "
                           "other speech or unknown speakers (every test utterance comes from one of the nine). The "
                           "test classes are unbalanced (24 to 88 per speaker). The 1-NN baseline with Euclidean "
                           "distance is not defined for unequal lengths, so zoo does not compute it."),
            "biases": "Nine adult male speakers; age and dialect are not recorded.",
            "privacy": ("Features of the voices of nine anonymous speakers. Telling a speaker by voice is a "
                        "biometric task: a model trained on it must not be used to identify people without their "
                        "consent."),
        }),
)
