"""A state model: a Gaussian mixture, every frame on its own."""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import faceexpr as fe


class GaussianMixtureModel(fe.StateModel):
    """scikit-learn's ``GaussianMixture`` as a faceexpr state model.

    Frames are independent: ``transmat_`` is counted from the fitted labels
    for the reports, and ``startprob_`` holds the mixture weights.
    """

    name = "gmm"
    requires = ("sklearn",)  # the modules that fe.backends() checks for

    def __init__(self, n_states=9, *, n_init=1, random_state=0):
        super().__init__(n_states, random_state=random_state, n_init=n_init)

    def _fit_arrays(self, segments):  # finite (T_i, D) arrays
        from sklearn.mixture import GaussianMixture  # import where used

        gm = GaussianMixture(self.n_states, n_init=self.options["n_init"],
                             random_state=self.random_state)
        gm.fit(np.concatenate(segments))
        counts = np.ones((self.n_states, self.n_states))
        for labels in map(gm.predict, segments):
            np.add.at(counts, (labels[:-1], labels[1:]), 1)
        self._set_params({
            "means": gm.means_, "covars": gm.covariances_,
            "transmat": counts / counts.sum(axis=1, keepdims=True),
            "startprob": gm.weights_})

    def _set_params(self, params):  # also what StateModel.load calls
        self.means_, self.covars_ = params["means"], params["covars"]
        self.transmat_ = params["transmat"]
        self.startprob_ = params["startprob"]

    def _log_joint(self, x):
        return np.log(self.startprob_) + np.column_stack([
            multivariate_normal(m, c).logpdf(x)
            for m, c in zip(self.means_, self.covars_)])

    def _predict_array(self, x):
        return self._log_joint(x).argmax(axis=1)

    def _proba_array(self, x):
        joint = self._log_joint(x)
        return np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    def _score_array(self, x):
        return float(logsumexp(self._log_joint(x), axis=1).sum())
