from extracted.datatools.cli import main

raise SystemExit(main())
