package all

import _ "difflab/stages/metrics" // metrics.classifier, metrics.reference, metrics.samples
