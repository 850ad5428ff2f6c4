"""Sentences of common English words, seeded: the training text of the llama.cpp tests.
usage: word_text.py SEED N  (N lines on stdout, each a capitalised sentence of 5..14 words)"""
import random
import sys

WORDS = ("the of and to in is was he for it with as his on be at by this had not are but from or have an they "
         "which one you were her all she there would their we him been has when who will more no if out so said what "
         "up its about into than them can only other new some could time these two may then do first any my now "
         "such like our over man me even most made after also did many before must through back years where much "
         "your way well down should because each just those people how too little state good very make world").split()


def text(seed, n):
    r = random.Random(seed)
    return "\n".join(" ".join(r.choice(WORDS) for _ in range(r.randint(5, 14))).capitalize() + "." for _ in range(n))


if __name__ == "__main__":
    print(text(int(sys.argv[1]), int(sys.argv[2])))
