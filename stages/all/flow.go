package all

import _ "difflab/stages/flow" // sample.flow
