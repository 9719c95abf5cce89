package all

import _ "difflab/stages/train" // train.denoiser, train.flow, train.ddpm
