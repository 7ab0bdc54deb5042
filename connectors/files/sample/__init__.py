"""The bundled samples of the files connector: a small SaaS business's billing exports,
generated deterministically.

``writers.generate(out_dir, end=...)`` writes the exports the ``files`` connector reads. Every
date is relative to ``end`` (any day of the last invoice month), so the data can be
regenerated for any month and always looks current. The export is taken as of the
15th of that month (``as_of``): nothing in it happens later.

Two parts: the scenario customers (``scenarios.py``), with readable ids, each exercising
one rule of docs/rules.md (``SCENARIOS.md`` beside this module says what analytics must
show for each), and a seeded random bulk of ordinary customers (``bulk.py``). Exactly
three rows are deliberately bad, so a newcomer sees the review queue. The command is
``saasync sample generate OUT_DIR``.

``generate(..., invoices_only=True)`` (``--invoices-only``) writes a second, small
export instead: three customers' invoices and no subscription rows, as an accounting
system exports them, to show automatic churn (``auto_churn_days``).

``connectors/files/bundled.py`` is what the connector offers the core
(``saasync.samples.BundledSamples``): ``path = "builtin:NAME"`` and ``saasync sample``
reach the generator through it.
"""
