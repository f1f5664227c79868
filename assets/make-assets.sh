#!/bin/sh
# Reproduces the committed audio assets. This is documentation: the build never runs it,
# and the committed WAV files are the source of truth.
#
# Needs the Debian packages asterisk-core-sounds-en-wav, asterisk-moh-opsound-wav, sox
# and espeak-ng. Every output is 8 kHz, mono, 16-bit signed PCM WAV.
set -eu

cd "$(dirname "$0")"
SOUNDS=/usr/share/asterisk/sounds/en
MOH=/usr/share/asterisk/moh
OUT=prompts/en-US
mkdir -p "$OUT" music

# Output format shared by every file, plus trimming of leading and trailing silence
# (anything quieter than 0.5 % of full scale for more than 20 ms) and 100 ms of silence
# at each end so prompts start and stop cleanly.
FORMAT="-r 8000 -c 1 -b 16 -e signed-integer"
TRIM="silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.1 0.1"

# A recorded prompt from asterisk-core-sounds-en-wav.
recorded() {
    sox -D "$SOUNDS/$2.wav" $FORMAT "$OUT/$1.wav" $TRIM
}

# A phrase the recordings lack, synthesised with the en-us voice, slightly slowed
# (150 words per minute instead of 175), resampled to 8 kHz and limited to telephone band.
synthesised() {
    espeak-ng -v en-us -s 150 -w "$OUT/$1.tmp.wav" "$2"
    sox -D "$OUT/$1.tmp.wav" $FORMAT "$OUT/$1.wav" gain -6 highpass 200 lowpass 3400 norm -3 $TRIM
    rm -f "$OUT/$1.tmp.wav"
}

synthesised welcome "Welcome to the audio conference."
recorded enter-conference-id conf-getconfno
recorded conference-id-invalid conf-invalid
synthesised organiser-press-star "If you are the organiser, press star now."
synthesised enter-pin "Please enter your PIN, followed by the pound key."
recorded pin-invalid conf-invalidpin
synthesised joining-as-organiser "You are joining as the organiser."
recorded record-name vm-rec-name
synthesised lobby-wait "Please wait. Someone in the meeting will let you in soon."
synthesised admitted "You are now joining the meeting."
recorded only-person conf-onlyperson
synthesised lobby-timeout "Nobody let you into the meeting."
recorded goodbye vm-goodbye
synthesised help "Press star one for help. Star zero repeats the last message. Star five raises or lowers your hand. Star six mutes or unmutes you. Organisers: star two one admits everyone in the lobby, star two two mutes everyone else, star two three turns entry and exit announcements on or off."
recorded muted conf-muted
recorded unmuted conf-unmuted
synthesised hand-raised "Your hand is raised."
synthesised hand-lowered "Your hand is lowered."
synthesised lobby-admitted-all "Everyone in the lobby has been admitted."
synthesised lobby-empty "Nobody is waiting in the lobby."
synthesised everyone-muted "Everyone except the organiser is now muted."
synthesised announcements-on "Entry and exit announcements are on."
synthesised announcements-off "Entry and exit announcements are off."
synthesised not-organiser "That command is for the organiser."
recorded meeting-ended confbridge-conf-end
synthesised joined "has joined."
synthesised left "has left."
synthesised pin-entry-locked "Too many wrong PINs have been entered. PIN entry by phone is locked for this meeting for now. Please try again later."
synthesised lobby-reminder "You are still waiting in the lobby. Someone will let you in soon."
synthesised language-offer-1 "For English, press one."
synthesised language-offer-2 "For English, press two."
synthesised language-offer-3 "For English, press three."
synthesised language-offer-4 "For English, press four."

# The other languages' prompts have scripts of their own.
prompts/make-fr-FR.sh

# Hold music: the first 60 seconds of one track from asterisk-moh-opsound-wav, with a
# two-second fade out so the loop point is soft.
sox -D "$MOH/macroform-cold_day.wav" $FORMAT music/hold.wav trim 0 60 fade t 0 60 2
