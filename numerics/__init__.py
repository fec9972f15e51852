"""Fast layer: JAX simulations of one-step networks and their equivalent models.

Modules, one concept each: data sources behind one protocol (``data``: ``mixture``,
``fashion``), the feature-model table (``models``), the network (``network``), the
equivalent models' features (``equivalents``), one jitted trial (``trial``), a point's
configuration (``config``), the trial loop (``simulation``) and its result (``result``),
exact test errors (``exact``, ``exact_test``), population moments and the ridge equivalent
(``population``, ``ridge``, ``prediction``, ``learning``), caches (``coefficients``,
``compile_cache``), atomic writes (``files``), runtime and precision settings (``runtime``,
``precision``) and memory estimates (``memory``).

Importing this package changes no JAX setting.  The engine needs 64-bit JAX (ridge solves,
moments and errors are float64; the large feature products may run in float32 with
``dtype="float32"``, which each function states): the entry points
(:func:`onestep_gm.simulate`, :func:`onestep_gm.learning_curve`, :func:`onestep_gm.predict`, ...)
scope it themselves (:func:`~onestep_gm.numerics.precision.x64`); lower-level functions called
without it raise :class:`RuntimeError` naming the fix (:func:`enable_x64`).
"""

__all__ = ["enable_x64", "require_x64", "x64"]


def __getattr__(name: str):
    if name in __all__:
        # lazily (JAX): importing a JAX-free module such as numerics.files must not load it
        from onestep_gm.numerics import precision

        return getattr(precision, name)
    raise AttributeError(f"module 'onestep_gm.numerics' has no attribute {name!r}")
