"""Shell completion: ``stonith completion bash|zsh`` prints a script; ``stonith complete`` feeds it.

The scripts are generated from the CLI's own parsers (stonith.cli.manpages.command_parsers): the
commands, each command's options, which options take a value and what kind of value (a file, a
directory, one of some choices, a device type, a node set).  Only names that change on a host are
asked for at completion time, by the hidden command

    stonith complete nodes|devices|types [--devices DIR]

which prints one name per line.  It must answer within a keystroke, so it reads the device files
of devices.d and nothing else: no driver is imported, no device contacted, no secret command run,
no argparse.  Node names are the keys of each file's [hosts] table and the node a BMC-type device
names in its ``hostname`` or ``hostlist`` parameter; names a device reports about its own outlets
(a file without [hosts], or ``device_names = true``) are known only by asking the device, so they
are not completed.  An unreadable directory or file (devices.d is root's, mode 0700) gives fewer
names, never an error: completion must not print anything else.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

# value kinds the scripts know how to complete
FILE, DIR, TYPES, NODES, DEVICES, TOPIC, NONE = "file", "dir", "types", "nodes", "devices", "topic", ""


def _value_kind(action: argparse.Action) -> str:
    """What an option's value or a positional argument is, from its dest, metavar and choices."""
    import argparse

    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return "words:" + " ".join(map(str, action.choices))
    meta = str(action.metavar or "").upper()
    dest = action.dest
    if dest in ("type", "types") or meta == "TYPE":
        return TYPES
    if dest in ("nodeset", "host", "hostlist") or meta in ("NODESET", "NODE", "HOSTLIST"):
        return NODES
    if dest == "topic":
        return TOPIC
    if "DIR" in meta or dest in ("dir", "devices", "socket_dir", "self_signed"):
        return DIR
    if "FILE" in meta or dest in ("config", "cib", "users", "tokens", "token_file", "cacert"):
        return FILE
    return NONE


class Command:
    """One (possibly nested) subcommand as the scripts see it."""

    def __init__(self, words: str, parser: argparse.ArgumentParser) -> None:
        from stonith.cli.manpages import _visible

        self.words = words
        self.options: list[str] = []
        self.values: dict[str, str] = {}  # option taking a value -> its kind
        self.positionals: list[str] = []
        self.repeat_last = False
        for action in _visible(parser):
            if action.option_strings:
                self.options += action.option_strings
                if action.nargs != 0:
                    for option in action.option_strings:
                        self.values[option] = _value_kind(action)
            else:
                self.positionals.append(_value_kind(action))
                self.repeat_last = action.nargs in ("*", "+")
        # hidden options are still accepted: their values must not count as positionals
        for action in parser._actions:
            if action.option_strings and action.nargs != 0:
                for option in action.option_strings:
                    self.values.setdefault(option, _value_kind(action))


def commands() -> list[Command]:
    from stonith.cli.manpages import command_parsers

    return [Command(words, parser) for words, _summary, parser in command_parsers()]


def _glue_options() -> list[str]:
    from stonith.cli.manpages import _glue_options as options

    return options()


# ---------------------------------------------------------------------------------------------
# bash

_BASH_HELPERS = r"""
# Names from devices.d, read by `stonith complete` (no device is contacted).
_stonith_names() {
    local i args=()
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        case ${COMP_WORDS[i]} in
            --devices) args=(--devices "${COMP_WORDS[i + 1]}") ;;
            --devices=*) args=(--devices "${COMP_WORDS[i]#--devices=}") ;;
        esac
    done
    "${COMP_WORDS[0]}" complete "$1" "${args[@]}" 2>/dev/null
}

# COMPREPLY for a value of KIND ($1) completing the word $cur.
# mapfile, not COMPREPLY=($(...)): a file name with blanks stays one word.
_stonith_fill() {
    local head="" word=$cur
    case $1 in
        file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
        types) mapfile -t COMPREPLY < <(compgen -W "$(_stonith_names types)" -- "$cur") ;;
        devices) mapfile -t COMPREPLY < <(compgen -W "$(_stonith_names devices)" -- "$cur") ;;
        nodes)
            # a node set: complete the name after the last comma, keep what precedes it
            if [[ $cur == *,* ]]; then head=${cur%,*},; word=${cur##*,}; fi
            mapfile -t COMPREPLY < <(compgen -P "$head" -W "$(_stonith_names nodes)" -- "$word") ;;
        topic) mapfile -t COMPREPLY < <(compgen -W "$_stonith_commands $(_stonith_names types)" -- "$cur") ;;
        words:*) mapfile -t COMPREPLY < <(compgen -W "${1#words:}" -- "$cur") ;;
    esac
}
"""


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def bash_script() -> str:
    cmds = commands()
    top = sorted({c.words.split()[0] for c in cmds}, key=[c.words.split()[0] for c in cmds].index)
    nested: dict[str, list[str]] = {}
    for c in cmds:
        parts = c.words.split()
        if len(parts) > 1:
            nested.setdefault(parts[0], []).append(parts[1])
    out = [
        "# bash completion for stonith(8); generated by `stonith completion bash` from the command's\n",
        "# own parsers.  Load it with: source <(stonith completion bash)\n",
        f"_stonith_commands={_sh_quote(' '.join(top))}\n",
        f"_stonith_glue_options={_sh_quote(' '.join(_glue_options()))}\n",
        _BASH_HELPERS,
        "\n# Is $2 an option of command $1 that takes a value?  Prints the value's kind.\n",
        '_stonith_value_kind() {\n    case "$1:$2" in\n',
    ]
    for c in cmds:
        for option, kind in c.values.items():
            out.append(f"        {_sh_quote(c.words + ':' + option)}) echo {_sh_quote(kind or 'none')} ;;\n")
    out.append("        *) return 1 ;;\n    esac\n}\n")
    out.append("\n_stonith_options() {\n    case $1 in\n")
    for c in cmds:
        out.append(f"        {_sh_quote(c.words)}) echo {_sh_quote(' '.join([*c.options, '--help']))} ;;\n")
    out.append("    esac\n}\n")
    out.append("\n# The kind of the N-th ($2) positional argument of command $1.\n")
    out.append("_stonith_positional() {\n    case $1 in\n")
    for c in cmds:
        if not c.positionals:
            continue
        kinds = " ".join(_sh_quote(k or "none") for k in c.positionals)
        last = "1" if c.repeat_last else "0"
        out.append(
            f"        {_sh_quote(c.words)}) local kinds=({kinds}); "
            f'if (($2 < ${{#kinds[@]}})); then echo "${{kinds[$2]}}"; '
            f'elif (({last})); then echo "${{kinds[-1]}}"; fi ;;\n'
        )
    out.append("    esac\n}\n")
    nested_cases = "".join(
        f"        {_sh_quote(name)}) subs={_sh_quote(' '.join(words))} ;;\n" for name, words in nested.items()
    )
    out.append(
        r"""
_stonith() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev="" key first=2 subs="" kind i n=0
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    if ((COMP_CWORD == 1)); then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$_stonith_glue_options" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$_stonith_commands" -- "$cur"))
        fi
        return 0
    fi
    key=${COMP_WORDS[1]}
    case $key in
"""
        + nested_cases
        + r"""        -*)
            # cluster-glue syntax: the type after -t, the verb after -T, options otherwise
            case $prev in
                -t) _stonith_fill types ;;
                -T) COMPREPLY=($(compgen -W "reset on off" -- "$cur")) ;;
                -F) _stonith_fill file ;;
                *) [[ $cur == -* ]] && COMPREPLY=($(compgen -W "$_stonith_glue_options" -- "$cur")) ;;
            esac
            return 0 ;;
    esac
    if [[ -n $subs ]]; then
        if ((COMP_CWORD == 2)); then
            COMPREPLY=($(compgen -W "$subs" -- "$cur"))
            return 0
        fi
        key="$key ${COMP_WORDS[2]}"
        first=3
    fi
    if kind=$(_stonith_value_kind "$key" "$prev"); then
        _stonith_fill "$kind"
        return 0
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_stonith_options "$key")" -- "$cur"))
        return 0
    fi
    # which positional argument is being completed: skip options and their values
    for ((i = first; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == -* ]]; then
            if [[ ${COMP_WORDS[i]} != *=* ]] && _stonith_value_kind "$key" "${COMP_WORDS[i]}" >/dev/null; then
                ((i++))
            fi
        else
            ((n++))
        fi
    done
    kind=$(_stonith_positional "$key" "$n")
    [[ -n $kind && $kind != none ]] && _stonith_fill "$kind"
    return 0
}
complete -F _stonith stonith
"""
    )
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# zsh


def zsh_script() -> str:
    """A compdef function: _arguments specs per command, names from ``stonith complete``."""
    cmds = commands()
    out = [
        "#compdef stonith\n",
        "# zsh completion for stonith(8); generated by `stonith completion zsh` from the command's own\n",
        "# parsers.  Install as _stonith in a directory of $fpath, or: source <(stonith completion zsh)\n\n",
        "_stonith_names() {\n",
        "    local dir=${opt_args[--devices]}\n",
        "    local -a names\n",
        '    names=(${(f)"$(${words[1]} complete $1 ${dir:+--devices $dir} 2>/dev/null)"})\n',
        "    _wanted $1 expl $1 compadd -a names\n",
        "}\n\n",
        "_stonith_nodes() {\n",
        "    # a node set: complete after the last comma\n",
        "    compset -P '*,'\n",
        "    _stonith_names nodes\n",
        "}\n\n",
        "_stonith() {\n",
        "    local curcontext=$curcontext state line ret=1\n",
        "    typeset -A opt_args\n",
        "    if (( CURRENT == 2 )); then\n",
        "        local -a cmds\n",
        f"        cmds=({' '.join(sorted({c.words.split()[0] for c in cmds}))})\n",
        "        if [[ $PREFIX == -* ]]; then\n",
        f"            compadd -- {' '.join(_glue_options())}\n",
        "        else\n",
        "            _describe -t commands 'stonith command' cmds\n",
        "        fi\n",
        "        return\n",
        "    fi\n",
        "    local key=${words[2]}\n",
        "    case $key in\n",
        "        -*)\n",
        "            case ${words[CURRENT-1]} in\n",
        "                -t) _stonith_names types ;;\n",
        "                -T) compadd reset on off ;;\n",
        "                -F) _files ;;\n",
        f"                *) compadd -- {' '.join(_glue_options())} ;;\n",
        "            esac\n",
        "            return ;;\n",
    ]
    nested: dict[str, list[str]] = {}
    for c in cmds:
        parts = c.words.split()
        if len(parts) > 1:
            nested.setdefault(parts[0], []).append(parts[1])
    for name, subs in nested.items():
        out.append(
            f"        {name})\n"
            f"            if (( CURRENT == 3 )); then compadd {' '.join(subs)}; return; fi\n"
            '            key="$key ${words[3]}"; shift words; (( CURRENT-- )) ;;\n'
        )
    out.append("    esac\n    shift words; (( CURRENT-- ))\n    case $key in\n")
    for c in cmds:
        specs = []
        for option in c.options:
            kind = c.values.get(option)
            if kind is None:
                specs.append(f"'{option}[]'")
            else:
                specs.append(f"'{option}=[]:value:{_zsh_action(kind)}'")
        for index, kind in enumerate(c.positionals):
            is_last = index == len(c.positionals) - 1
            star = "*" if c.repeat_last and is_last else str(index + 1)
            specs.append(f"'{star}:arg:{_zsh_action(kind)}'")
        out.append(f"        {_sh_quote(c.words)}) _arguments -s {' '.join(specs)} && ret=0 ;;\n")
    out.append("    esac\n    return ret\n}\n\n")
    # autoloaded from $fpath: complete now; sourced: register
    out.append("if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n")
    out.append('    _stonith "$@"\nelse\n    compdef _stonith stonith\nfi\n')
    return "".join(out)


def _zsh_action(kind: str) -> str:
    if kind.startswith("words:"):
        return "(" + kind[len("words:") :] + ")"
    return {
        FILE: "_files",
        DIR: "_files -/",
        TYPES: "_stonith_names types",
        NODES: "_stonith_nodes",
        DEVICES: "_stonith_names devices",
        TOPIC: "_stonith_names types",
    }.get(kind, " ")


# ---------------------------------------------------------------------------------------------
# stonith complete: names for the scripts, fast


def _name_ok(name: object) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= 256
        and name.isprintable()
        and not any(c.isspace() for c in name)
    )


def _device_files(directory: str) -> list[tuple[str, dict[str, object]]]:
    import stat
    import tomllib

    found: list[tuple[str, dict[str, object]]] = []
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".toml"))
    except OSError:
        return found
    for name in names:
        try:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = tomllib.load(handle)
        except (OSError, ValueError, RecursionError):  # TOMLDecodeError and UnicodeDecodeError too
            continue
        finally:
            os.close(fd)
        found.append((name[: -len(".toml")], data))
    return found


def names(what: str, directory: str) -> list[str]:
    """The names ``stonith complete WHAT`` prints (sorted, unique)."""
    if what == "types":
        from stonith.fencing import registry

        return registry.types()
    from stonith.fencing.fleet import member_name, nodes_of_file

    out: set[str] = set()
    for stem, data in _device_files(directory):
        fleet = nodes_of_file(data, keep_case=True) or []  # a fleet file's members (stonith.fencing.fleet)
        if what == "devices":
            name = str(data.get("name", stem))
            out.update([member_name(name, node) for node in fleet] if fleet else [name])
            continue
        out.update(fleet)
        hosts = data.get("hosts")
        if isinstance(hosts, dict):
            out.update(hosts)
        params = data.get("parameters")
        if isinstance(params, dict):
            # a BMC powers the one node its hostname names; null/ssh-like types list theirs
            if isinstance(params.get("hostname"), str):
                out.add(params["hostname"])
            if isinstance(params.get("hostlist"), str):
                out.update(params["hostlist"].replace(",", " ").split())
    return sorted(n for n in out if _name_ok(n))


def complete_main(argv: list[str]) -> int:
    """``stonith complete nodes|devices|types [--devices DIR]`` (argv without ``complete``)."""
    directory = os.environ.get("STONITH_DEVICES") or "/etc/stonith/devices.d"
    what = ""
    args = iter(argv)
    for arg in args:
        if arg == "--devices":
            directory = next(args, directory)
        elif arg.startswith("--devices="):
            directory = arg.split("=", 1)[1]
        else:
            what = arg
    if what not in ("nodes", "devices", "types"):
        sys.stderr.write("usage: stonith complete nodes|devices|types [--devices DIR]\n")
        return 1
    directory = os.path.expanduser(directory)
    sys.stdout.write("".join(n + "\n" for n in names(what, directory)))
    return 0


def main(shell: str) -> int:
    """``stonith completion bash|zsh``."""
    sys.stdout.write(bash_script() if shell == "bash" else zsh_script())
    return 0
