package all

import _ "difflab/stages/noise" // noise.forward, noise.sigma
