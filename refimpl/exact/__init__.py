"""Exact ground truths: finite MDPs and the linear-quadratic example, by linear algebra."""
