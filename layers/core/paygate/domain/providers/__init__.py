"""Payment providers as configuration: what each connector supports (`registry`), and a merchant's
routing rules that choose the providers of a payment, in order of preference (`routing`). Pure: no I/O."""
