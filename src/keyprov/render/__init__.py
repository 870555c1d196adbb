"""Every text keyprov shows a person, as pure functions of a result.

Nothing here prints, calls the server or reads a file: the CLI echoes what these return, and
tests compare it exactly. One module per kind of text: `plan` (the dry run), `run` (the end
of a provisioning run), `progress` (while it runs), `lifecycle` (check, report and the key
changes), `distribute` (handouts, send), `setup` (doctor, usage errors), `workshops` (the list
of workshops), `rename`, and `text` (the pieces they share). Import a text from its module, so
that a command pays only for the texts it shows.
"""
