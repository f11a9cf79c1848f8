"""nnifc: NNI-style hyperparameter tuning whose trials run as FrameworkController Frameworks.

This module stays import-light on purpose: trial code imports `nnifc.trial`, which must not pull in
the launcher's dependencies.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
