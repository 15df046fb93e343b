"""Linear autoencoder against PCA: test MSE ratio and largest principal angle, per code size k.

PCA-k is fitted with scikit-learn on the (centred) training images. The linear autoencoder
is x -> W_d W_e (x - mean) + mean with no non-linearity, trained by Adam (1e-2, cosine decay
to zero, batch 512; 10/20/30/50 epochs for k = 2/16/32/64, as in chapter 2's notebook) on
the same centred images with mean squared error. Baldi & Hornik: at the optimum, the
decoder's columns span the top-k principal subspace. We report the test MSE of both, their
ratio, and the principal angles between the decoder's column space and PCA's subspace.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import subspace_angles

from benchmarks.common import log, target, timer

KS = (2, 16, 32, 64)
EPOCHS = {2: 10, 16: 20, 32: 30, 64: 50}
BATCH = 512
LEARNING_RATE = 1e-2


def train_linear_ae(xc_train, k: int, epochs: int, seed: int = 0):
    import keras
    from keras import layers

    from aecourse import config

    config.set_seed(seed)
    inputs = keras.Input((784,))
    z = layers.Dense(k, use_bias=False, name="encoder")(inputs)
    x_hat = layers.Dense(784, use_bias=False, name="decoder")(z)
    model = keras.Model(inputs, x_hat)
    steps = epochs * int(np.ceil(len(xc_train) / BATCH))
    lr = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
    model.fit(xc_train, xc_train, epochs=epochs, batch_size=BATCH, verbose=0, shuffle=True)
    return model


def run(smoke: bool = False) -> dict:
    from sklearn.decomposition import PCA

    from aecourse import config, data

    config.quiet_tensorflow()
    (x_train, _), (x_test, _) = data.load_mnist(dtype="float32", layout="flat",
                                                n_train=2000 if smoke else None, n_test=500 if smoke else None)
    mean = x_train.mean(axis=0)
    xc_train, xc_test = x_train - mean, x_test - mean
    rows = []
    for k in KS:
        epochs = 2 if smoke else EPOCHS[k]
        with timer() as t_pca:
            pca = PCA(n_components=k, random_state=0).fit(x_train)
        pca_mse = float(np.mean((pca.inverse_transform(pca.transform(x_test)) - x_test) ** 2))
        log(f"k={k}: PCA test MSE {pca_mse:.5f}; training the linear AE for {epochs} epochs")
        with timer() as t_ae:
            model = train_linear_ae(xc_train, k, epochs, seed=k)
        ae_mse = float(np.mean((model.predict(xc_test, verbose=0, batch_size=2000) - xc_test) ** 2))
        decoder = model.get_layer("decoder").get_weights()[0]          # (k, 784)
        angles = np.degrees(subspace_angles(decoder.T, pca.components_.T))
        rows.append({"k": k, "epochs": epochs, "pca_test_mse": pca_mse, "linear_ae_test_mse": ae_mse,
                     "mse_ratio": ae_mse / pca_mse, "largest_angle_deg": float(angles.max()),
                     "median_angle_deg": float(np.median(angles)), "pca_fit_s": t_pca(), "ae_train_s": t_ae(),
                     "pca_sse_per_image": pca_mse * 784})
        log(f"  linear AE {ae_mse:.5f} (ratio {ae_mse / pca_mse:.4f}), largest angle {angles.max():.2f} deg")
    pca30 = PCA(n_components=30, random_state=0).fit(x_train)
    sse30 = float(np.mean(np.sum((pca30.inverse_transform(pca30.transform(x_test)) - x_test) ** 2, axis=1)))
    return {
        "title": "Linear autoencoder vs PCA on the MNIST test set",
        "rows": rows,
        "pca30_sse_per_image": sse30,
        "targets": [
            target("linear AE test MSE over PCA's, worst code size", max(r["mse_ratio"] for r in rows), 1.01, digits=5),
            target("largest principal angle to PCA's subspace, worst code size",
                   max(r["largest_angle_deg"] for r in rows), 10.0, unit="degrees"),
        ],
    }
