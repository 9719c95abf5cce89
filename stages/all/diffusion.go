package all

import _ "difflab/stages/diffusion" // denoise.onestep, denoise.iterative, sample, sdedit, inpaint, anagram, hybrid, upscale
