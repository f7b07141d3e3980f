"""The TF beginner quickstart: logits, from_logits loss, then Sequential([model, Softmax()])."""

import keras
import numpy as np
from keras import layers

from tests.keras_scripts.data import load_data

(x_train, y_train), (x_test, y_test) = load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0

model = keras.models.Sequential(
    [
        layers.Flatten(input_shape=(12, 12)),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(4),
    ]
)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
model.fit(x_train, y_train, epochs=8, verbose=0)
model.evaluate(x_test, y_test, verbose=2)

probability_model = keras.Sequential([model, layers.Softmax()])
probabilities = np.asarray(probability_model.predict(x_test, verbose=0))
assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
test_acc = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
print("test accuracy", test_acc)
