"""The denoising dimension-reduction assignment: its contract, in one place.

The instructor source notebook (``assignments/denoising_dimension_reduction/``), the
generated student notebook, the notebook's checks (``checks.py`` here) and the grading spec
(``grading.py`` here) all read this module, so a threshold, a point value or a required name
is defined exactly once.

Changes to the contract since the skeleton (d927ed8): none renamed. Added
``PARTS`` (part ids = nbgrader ``grade_id`` of the check cells, answer-cell ids,
points, the names each answer must leave), ``SMOKE_THRESHOLDS`` and
``thresholds()`` (smoke runs train on 2,000 images and cannot meet the full
thresholds), ``z_test_2d`` (the 2-D view), ``pca_mse``/``ae_mse`` and more
threshold keys, ``REFERENCE_RESULTS``. ``THRESHOLDS`` keeps its three original keys;
``min_knn_accuracy`` was raised from 0.85 to 0.90 after the reference measured 0.944.
Seeds made explicit: ``x_train_noisy`` uses ``NOISE_SEED``, ``x_test_noisy`` uses
``NOISE_SEED + 1`` (with one seed, the test images would get the first training
images' noise pattern).

Contract (what the graded answer cells must leave behind in the notebook):

- ``add_noise(x, noise_factor, seed)``: returns ``clip(x + noise_factor * N(0, 1), 0, 1)``
  as float32, same shape as ``x``, seeded by ``seed`` (same seed, same noise; any
  random generator), without changing ``x``.
- ``x_train``, ``x_test``: float32 images in [0, 1], shape (N, 28, 28, 1), the MNIST
  train / test images (all of them in full mode; ``config.pick(None, 2000)`` /
  ``config.pick(None, 500)`` in smoke mode); ``y_train``, ``y_test``: int labels (N,).
- ``x_train_noisy``, ``x_test_noisy``: ``add_noise(x_train, NOISE_FACTOR, NOISE_SEED)``,
  ``add_noise(x_test, NOISE_FACTOR, NOISE_SEED + 1)``.
- ``encoder``: Keras model, (N, 28, 28, 1) images -> (N, LATENT_DIM) codes; it contains
  at least one convolution layer.
- ``autoencoder``: Keras model, noisy (N, 28, 28, 1) -> denoised (N, 28, 28, 1) in [0, 1],
  trained to map noisy training images to clean ones.
- ``x_test_denoised``: ``autoencoder`` applied to ``x_test_noisy``; ``ae_mse``: its MSE per
  pixel against ``x_test``.
- ``pca_test_denoised``: PCA with LATENT_DIM components fitted on ``x_train_noisy``
  (flattened to 784), reconstructing ``x_test_noisy``; same shape as ``x_test``;
  ``pca_mse``: its MSE per pixel against ``x_test``.
- ``z_train``, ``z_test``: ``encoder`` codes of the *noisy* train/test images, shapes
  (N_train, LATENT_DIM), (N_test, LATENT_DIM).
- ``knn_accuracy_ae``, ``knn_accuracy_pca``: k-NN (k=KNN_K) test accuracy (a float in
  [0, 1]) fitted on ``z_train``/``y_train``, scored on ``z_test``/``y_test``; the same with
  the LATENT_DIM-component PCA codes of the noisy images.
- ``z_test_2d``: a 2-D view of ``z_test`` (PCA, t-SNE, ...), shape (N_test, 2).

The written interpretation is a markdown answer cell, graded by hand.
"""

from __future__ import annotations

from .. import Part, find_part

NAME = "denoising_dimension_reduction"
# begin constants
NOISE_FACTOR = 0.5
NOISE_SEED = 42
LATENT_DIM = 16
KNN_K = 5
# end constants


# begin parts
PARTS: tuple[Part, ...] = (
    Part("noise", "answer_noise", "Load MNIST and add clipped Gaussian noise", 2, True,
         ("add_noise", "x_train", "y_train", "x_test", "y_test", "x_train_noisy", "x_test_noisy")),
    Part("model", "answer_model", "Build and train a convolutional denoising autoencoder", 3, True,
         ("encoder", "autoencoder")),
    Part("denoise", "answer_denoise", "Denoise the test images below the MSE threshold", 3, True,
         ("x_test_denoised", "ae_mse")),
    Part("pca", "answer_pca", "Beat PCA of the same size at denoising", 2, True,
         ("pca_test_denoised", "pca_mse")),
    Part("codes", "answer_codes", "Codes of the noisy images for dimension reduction", 2, True,
         ("z_train", "z_test")),
    Part("knn", "answer_knn", "k-NN accuracy on the codes vs on PCA codes", 2, True,
         ("knn_accuracy_ae", "knn_accuracy_pca")),
    Part("view", "answer_view", "A 2-D view of the codes coloured by digit", 1, True,
         ("z_test_2d",)),
    Part("interpretation", "interpretation", "Written interpretation (graded by hand)", 2, False, ()),
)
# end parts
PART_IDS = tuple(p.id for p in PARTS)
POINTS = {p.id: p.points for p in PARTS}
AUTOGRADED_POINTS = sum(p.points for p in PARTS if p.autograded)
MANUAL_POINTS = sum(p.points for p in PARTS if not p.autograded)
TOTAL_POINTS = AUTOGRADED_POINTS + MANUAL_POINTS


def part(part_id: str) -> Part:
    """The :class:`Part` with this id (``KeyError`` naming the known ids otherwise)."""
    return find_part(PARTS, part_id)


# Thresholds (MNIST test set, MSE per pixel against the clean images, pixels in [0, 1]).
# Set from the reference solution's measured results (REFERENCE_RESULTS, the source
# notebook's own solution, seed 0) with a safety margin, so that a correct solution with
# another architecture, seed or training length passes.
# begin thresholds
THRESHOLDS = {
    "max_denoise_mse": 0.030,       # AE denoised test images vs clean (reference 0.0155; noisy input 0.116)
    "min_output_std": 0.05,         # spread of the outputs between images (reference 0.162, clean 0.192,
                                    # all-zero or constant output 0, untrained sigmoid output < 0.001)
    "min_knn_accuracy": 0.90,       # k-NN on the AE codes of noisy test images (reference 0.944,
                                    # PCA-16 codes 0.917)
    "max_ae_to_pca_mse": 0.75,      # "beat PCA": AE test MSE at most this fraction of PCA's (reference 0.26)
    "max_pca_codes_r2": 0.995,      # codes an affine function of PCA codes (R² above this): PCA in disguise
                                    # (reference 0.833; PCA's own codes 1.0)
}
# end thresholds
# Smoke mode (AECOURSE_SMOKE=1: 2,000 training and 500 test images, 10 short epochs): the
# reference reaches MSE 0.047, 0.77 of PCA's, k-NN 0.70 (PCA codes 0.87), spread 0.10.
SMOKE_THRESHOLDS = {
    "max_denoise_mse": 0.055,       # PCA-16 itself reaches about 0.06 here, on the grader's held-out digits too
    "min_output_std": 0.05,
    "min_knn_accuracy": 0.50,
    "max_ae_to_pca_mse": 0.95,
    "max_pca_codes_r2": 0.995,
}
# What the reference solution measured (seed 0). Full: 6 epochs, batch 128, on 2 CPU cores shared
# with other jobs: the whole source notebook with its checks passed nbval in 348 s (training
# cell 301 s); a script of the solution alone took 285 s (training 262 s); with the cores
# heavily shared (load ~10) the notebook took 615 s (training 513 s). Smoke: 10 epochs on
# 2,000 images, 20-40 s of training; the smoke nbval run of the source takes 40-60 s.
REFERENCE_RESULTS = {
    "full": {"ae_mse": 0.0155, "pca_mse": 0.0598, "noisy_mse": 0.1158, "knn_accuracy_ae": 0.944,
             "knn_accuracy_pca": 0.917, "output_spread": 0.162, "pca_codes_r2": 0.833,
             "train_seconds": 262},
    "smoke": {"ae_mse": 0.0473, "pca_mse": 0.0616, "noisy_mse": 0.1155, "knn_accuracy_ae": 0.704,
              "knn_accuracy_pca": 0.866, "output_spread": 0.102, "pca_codes_r2": 0.943},
}


def thresholds(smoke: bool | None = None) -> dict:
    """The thresholds for this run: ``SMOKE_THRESHOLDS`` in smoke mode, else ``THRESHOLDS``."""
    if smoke is None:
        from aecourse import config

        smoke = config.smoke()
    return dict(SMOKE_THRESHOLDS if smoke else THRESHOLDS)


# The checks print a target stricter than each threshold ("aim for ≤ X; passes at ≤ Y"), so a
# solution that meets the target passes with room to spare on images it has not seen.
# begin targets
TARGET_MARGIN = 0.8   # aim for this fraction of a maximum, or of the gap between a minimum accuracy and 1
# end targets


def target(key: str, t: dict | None = None) -> float:
    """The target to aim for, stricter than the threshold ``t[key]`` (``t``: :func:`thresholds`)."""
    t = thresholds() if t is None else t
    value = t[key]
    if key.startswith("max_"):
        return value * TARGET_MARGIN
    if key == "min_knn_accuracy":
        return 1 - (1 - value) * TARGET_MARGIN
    return value / TARGET_MARGIN
