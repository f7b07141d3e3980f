"""Raw 0-255 pixels in: Rescaling and Reshape inside the model, ELU, an AvgPool2D alias."""

import keras
from keras import layers

from tests.keras_scripts.data import load_data

keras.utils.set_random_seed(812)
(x_train, y_train), (x_test, y_test) = load_data()
x_train = x_train.reshape(-1, 144).astype("float32")  # flat raw pixels
x_test = x_test.reshape(-1, 144).astype("float32")

model = keras.Sequential(
    [
        keras.Input(shape=(144,)),
        layers.Rescaling(1.0 / 255),
        layers.Reshape((12, 12, 1)),
        layers.Conv2D(8, 3, padding="same"),
        layers.ELU(),
        layers.AvgPool2D(2),
        layers.Flatten(),
        layers.Dense(4, activation="softmax"),
    ]
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=16, epochs=6, verbose=0)
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
print("test accuracy", test_acc)
