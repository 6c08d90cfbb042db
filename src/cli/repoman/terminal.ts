// Questions to the user: lines read from standard input (a terminal or a pipe), hidden input for
// passphrases, and the original's yes/no confirmation. End of input means nobody answered.

export class Terminal {
  private buffer = "";
  private ended = false;
  private waiting: (() => void) | undefined;
  private listening = false;

  constructor(
    private readonly input: NodeJS.ReadStream = process.stdin,
    private readonly output: NodeJS.WriteStream = process.stdout,
  ) {}

  get interactive(): boolean {
    return this.input.isTTY === true;
  }

  private listen(): void {
    if (this.listening) {
      this.input.resume();
      return;
    }
    this.listening = true;
    this.input.setEncoding("utf8");
    this.input.on("data", (chunk: string) => {
      this.buffer += chunk;
      this.waiting?.();
    });
    this.input.on("end", () => {
      this.ended = true;
      this.waiting?.();
    });
    this.input.on("error", () => {
      this.ended = true;
      this.waiting?.();
    });
  }

  private async nextLine(): Promise<string | undefined> {
    this.listen();
    for (;;) {
      const nl = this.buffer.indexOf("\n");
      if (nl !== -1) {
        const line = this.buffer.slice(0, nl).replace(/\r$/, "");
        this.buffer = this.buffer.slice(nl + 1);
        this.input.pause();
        return line;
      }
      if (this.ended) {
        const rest = this.buffer;
        this.buffer = "";
        return rest === "" ? undefined : rest;
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }

  async ask(prompt: string): Promise<string | undefined> {
    this.output.write(prompt);
    const answer = await this.nextLine();
    if (answer === undefined || !this.interactive) this.output.write("\n");
    return answer;
  }

  // Without echo on a terminal; from a pipe, the next line.
  async askSecret(prompt: string): Promise<string | undefined> {
    if (!this.interactive) return this.ask(prompt);
    this.output.write(prompt);
    this.input.setRawMode(true);
    this.input.setEncoding("utf8");
    this.input.resume();
    let secret = "";
    try {
      return await new Promise<string | undefined>((resolve) => {
        const onData = (chunk: string) => {
          for (const ch of chunk) {
            if (ch === "\r" || ch === "\n") return done(secret);
            if (ch === "\u0003" || ch === "\u0004") return done(undefined);
            if (ch === "\u007f" || ch === "\b") secret = secret.slice(0, -1);
            else secret += ch;
          }
        };
        const done = (v: string | undefined) => {
          this.input.off("data", onData);
          resolve(v);
        };
        this.input.on("data", onData);
      });
    } finally {
      this.input.setRawMode(false);
      this.input.pause();
      this.output.write("\n");
    }
  }

  // The original's yes_or_no: only the full word "yes" confirms; "y" or "ye" ask again (three
  // tries); anything else declines. undefined: nobody answered.
  async confirm(prompt = "Confirm deletion [yes]/[n]o: "): Promise<boolean | undefined> {
    let answer = await this.ask(prompt);
    for (let tries = 0; tries < 3; tries++) {
      if (answer === undefined) return undefined;
      const a = answer.trim().toLowerCase();
      if (a === "yes") return true;
      if (a !== "y" && a !== "ye") return false;
      answer = await this.ask("Type the full word 'yes' to confirm: ");
    }
    return answer?.trim().toLowerCase() === "yes";
  }
}
