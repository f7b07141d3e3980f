"""The classic Keras MNIST CNN, run on scratchnet.

This is a Keras tutorial script with only its imports changed: the two lines
marked "was:" are the whole port.
"""

import time

from scratchnet import layers, models  # was: from tensorflow.keras import layers, models
from scratchnet.datasets import mnist  # was: from tensorflow.keras.datasets import mnist
from scratchnet.utils import (
    to_categorical,
)  # was: from tensorflow.keras.utils import to_categorical

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train = x_train.reshape((60000, 28, 28, 1)).astype("float32") / 255
x_test = x_test.reshape((10000, 28, 28, 1)).astype("float32") / 255
y_train = to_categorical(y_train)
y_test = to_categorical(y_test)

model = models.Sequential(
    [
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ]
)
model.summary()
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

start = time.perf_counter()
model.fit(x_train, y_train, epochs=1, batch_size=32)
elapsed = time.perf_counter() - start

test_loss, test_acc = model.evaluate(x_test, y_test)
print(f"test loss {test_loss:.4f}, test accuracy {test_acc:.4f}")
print(f"one epoch of 60000 images took {elapsed:.1f} s")
