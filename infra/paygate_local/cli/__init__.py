"""The `paygate` command (paygate_local.cli:main): one module per command or group of commands.

    paygate.py    the typer app and main()       options.py    what the commands share
    dev.py        paygate dev (the session is paygate_local.session)
    merchants.py  paygate merchants create       invoke.py     paygate invoke
    dlq.py        paygate dlq list | replay      logs.py       paygate logs
    trace.py      paygate trace                  dashboard.py  paygate dashboard
    listen.py     paygate listen, paygate pay    ministack.py  paygate ministack [deploy]
    sandbox.py    paygate sandbox
"""

from paygate_local.cli.paygate import app, main

__all__ = ["app", "main"]
