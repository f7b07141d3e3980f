"""BatchNormalization between convolutions, ReLU/PReLU layers, he_normal initializers."""

import keras
from keras import layers

from tests.keras_scripts.data import load_data

(x_train, y_train), (x_test, y_test) = load_data()
x_train = x_train[..., None].astype("float32") / 255
x_test = x_test[..., None].astype("float32") / 255

model = keras.Sequential()
model.add(keras.Input(shape=(12, 12, 1)))
model.add(layers.Conv2D(8, 3, use_bias=False, kernel_initializer=keras.initializers.he_normal()))
model.add(layers.BatchNormalization())
model.add(layers.ReLU())
model.add(layers.MaxPool2D(2))
model.add(layers.Conv2D(16, 3, use_bias=False))
model.add(layers.BatchNormalization(momentum=0.9))
model.add(layers.PReLU(shared_axes=[1, 2]))
model.add(layers.Flatten())
model.add(layers.Dropout(0.25))
model.add(layers.Dense(4, activation="softmax"))
model.summary()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=16, epochs=10, verbose=0)
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
print("test accuracy", test_acc)
