"""keras.Input + Sequential, images without their channel axis, validation in fit, evaluate(verbose=2)."""

import keras
from keras import layers

from tests.keras_scripts.data import load_data

keras.backend.clear_session()
print("data format:", keras.backend.image_data_format(), keras.backend.floatx())

(x_train, y_train), (x_test, y_test) = load_data()
x_train = x_train.astype("float32") / 255  # (N, 12, 12): the model adds the channel axis
x_test = x_test.astype("float32") / 255

model = keras.Sequential(
    [
        keras.Input(shape=(12, 12, 1)),
        layers.Conv2D(16, (3, 3), activation="relu"),
        layers.MaxPool2D((2, 2)),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(4, activation="softmax"),
    ]
)
model.summary()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=6, validation_split=0.1, verbose=2)
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=2)
print("val_accuracy", history.history["val_accuracy"][-1], "test accuracy", test_acc)
