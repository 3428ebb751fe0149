"""`python -m dlspec ...`: the command line, for launchers that start a module
(torchrun -m dlspec fit SPEC, srun python -m dlspec fit SPEC)."""
from .cli import main

if __name__ == "__main__":
    main(prog_name="dlspec")
