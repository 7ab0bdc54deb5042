"""ChartMogul over HTTP: the destination (``destination.ChartMogulDestination``), its
client (``client``), mapping and conflicts (``mapping``), bulk imports (``bulk``) and
read-back (``readback``); import each name from the module that defines it."""
