package all

import _ "difflab/stages/imageops" // blur.gaussian
