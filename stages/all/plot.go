package all

import _ "difflab/stages/plot" // plot.grid, plot.curve
