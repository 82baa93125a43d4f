"""After `sam build`: every function of the template has its artifact, an aarch64 ELF
executable named `bootstrap`; prints each size. Exits 1 when one is missing or wrong."""

import os
import stat
import sys

from cfnlint.decode import decode

EM_AARCH64 = 183


def main() -> int:
    template_path, build_dir = sys.argv[1], sys.argv[2]
    template, matches = decode(template_path)
    if matches:
        print(f"check_build: cannot read {template_path}: {matches}")
        return 1
    functions = sorted(
        name
        for name, res in template.get("Resources", {}).items()
        if res.get("Type") == "AWS::Serverless::Function"
    )
    failed = 0
    total = 0
    for name in functions:
        path = os.path.join(build_dir, name, "bootstrap")
        try:
            with open(path, "rb") as f:
                header = f.read(20)
            mode = os.stat(path).st_mode
        except OSError as e:
            print(f"  {name:28} MISSING ({e.strerror})")
            failed += 1
            continue
        problems = []
        if header[:4] != b"\x7fELF":
            problems.append("not an ELF file")
        elif header[4] != 2:
            problems.append("not 64-bit")
        elif int.from_bytes(header[18:20], "little") != EM_AARCH64:
            problems.append(f"machine {int.from_bytes(header[18:20], 'little')}, not aarch64")
        if not mode & stat.S_IXUSR:
            problems.append("not executable")
        size = os.path.getsize(path)
        total += size
        verdict = "ok" if not problems else "WRONG: " + ", ".join(problems)
        print(f"  {name:28} {size / 1048576:6.2f} MiB  {verdict}")
        failed += bool(problems)
    print(f"check_build: {len(functions)} functions, {total / 1048576:.2f} MiB in all, {failed} problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
