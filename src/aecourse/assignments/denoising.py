"""The denoising dimension-reduction assignment: its contract, in one place.

The student notebook, the student-facing checks (``aecourse.checks``) and the
grader (``aecourse.grade``) all read this module, so a threshold or a required
name is defined exactly once.

Contract (what the graded answer cells must leave behind in the notebook):

- ``add_noise(x, noise_factor, seed)``: returns ``clip(x + noise_factor * N(0, 1), 0, 1)``
  as float32, same shape as ``x``, seeded by ``seed``.
- ``x_train``, ``x_test``: float32 images in [0, 1], shape (N, 28, 28, 1);
  ``x_train_noisy``, ``x_test_noisy``: ``add_noise`` of them with ``NOISE_FACTOR``.
- ``encoder``: Keras model, (N, 28, 28, 1) images -> (N, LATENT_DIM) codes.
- ``autoencoder``: Keras model, noisy (N, 28, 28, 1) -> denoised (N, 28, 28, 1) in [0, 1].
- ``x_test_denoised``: ``autoencoder`` applied to ``x_test_noisy``.
- ``pca_test_denoised``: PCA with LATENT_DIM components fitted on ``x_train_noisy``,
  reconstructing ``x_test_noisy``; same shape as ``x_test``.
- ``z_train``, ``z_test``: ``encoder`` codes of the *noisy* train/test images;
  ``knn_accuracy_ae``, ``knn_accuracy_pca``: k-NN (k=5) test accuracy on AE / PCA codes.
"""

NAME = "denoising_dimension_reduction"
NOISE_FACTOR = 0.5
NOISE_SEED = 42
LATENT_DIM = 16
KNN_K = 5
# Thresholds (MNIST test set, MSE per pixel against the clean images). Set from the
# reference solution's measured results with a safety margin; see the assignment page.
THRESHOLDS = {
    "max_denoise_mse": 0.030,       # the autoencoder's denoised test images vs clean
    "min_output_std": 0.05,         # a collapsed / constant output falls below this
    "min_knn_accuracy": 0.85,       # k-NN on the AE codes of noisy test images
}
