package all

import _ "difflab/stages/data" // image.load, dataset.mnist, dataset.fashion_mnist
